"""Click commands. Each module must stay light to import: heavy imports go inside the command bodies."""

"""The hf-quicktune Space: what ``app.py`` wires into a gradio Blocks app.

- :mod:`~qt_space.jobs`: one search per visitor in a worker thread, fed by the run's progress reporter
- :mod:`~qt_space.inputs`: dataset choice (built-in, Hub id, uploaded zip/CSV), settings, budget checks
- :mod:`~qt_space.views`: tables, plots and text a visitor sees (live and after the run)
- :mod:`~qt_space.models`: classify an image with a run's export or a published model
- :mod:`~qt_space.browse`: a published hf-quicktune run, from its repo's ``quicktune/`` files
- :mod:`~qt_space.publish`: push a run's export with the visitor's own Hub token
"""

"""Packaging glue that pyproject.toml cannot express: ship the top-level recipes/ as hf_quicktune/recipes."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["hf_quicktune", "hf_quicktune.*"]) + ["hf_quicktune.recipes"])

"""The benchmark harness behind `python -m bench`: stack, load tools, scenarios B1-B7, report."""

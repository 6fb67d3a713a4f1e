"""Command-line sub-commands, one module per topic; ``chipplan.cli`` wires them into one app."""

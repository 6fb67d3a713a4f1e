"""``python -m chipplan.io > docs/columns.md``: print the column reference generated from the schema."""

from chipplan.io.schema import markdown

print(markdown(), end="")

"""``python -m chipplan.commands > docs/limits.md``: print the plausible ranges and the flags that use them."""

from chipplan.commands._common import limits_markdown

print(limits_markdown(), end="")

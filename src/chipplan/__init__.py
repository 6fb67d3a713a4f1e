"""chipplan: plan AI compute from model shape and silicon to cost per token and sourcing strategy."""

__version__ = "0.1.0"

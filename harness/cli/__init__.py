"""The verification commands of `pitmirror`, one module per command; they join the product's
app (node/cli.py) when the verify extra is installed (`commands`)."""

"""pitmirror's product: what a user runs to mirror a volume (one site built from a config, its
command line).  It imports the engine (impl) and the action vocabulary only, never the
verification machinery (harness, proofs) or its libraries (hypothesis, z3, coverage):
`pip install pitmirror` gives this, `pitmirror[verify]` adds the checks."""

"""C-SWAP: one-shot structured pruning driven by a saved causal graph (see METHOD.md, section 5)."""

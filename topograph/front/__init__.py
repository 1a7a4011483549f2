"""The front end: read a topology file, check its shape, resolve it into the model, validate it; names, codes, diagnostics."""

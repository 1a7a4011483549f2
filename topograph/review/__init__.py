"""The design review: one page (HTML or Markdown) with the diagram, address plan, nodes, matrix and expectations."""

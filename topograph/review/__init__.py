"""Design reviews: the review page (HTML or Markdown: diagram, address plan, nodes, matrix, expectations)
and what changed between two designs of a lab (diff)."""

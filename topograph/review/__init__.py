"""Design reviews: what changed between two designs of a lab (diff), for the command line and the review page."""

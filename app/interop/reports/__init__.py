"""Reports of a run (JSON, JUnit XML, HTML), written by the same code for the server and for `exile run`."""

"""The paper's own conversion of each source (`--style paper`): one rules module per source."""

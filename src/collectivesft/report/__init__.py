"""`collectivesft report`: Markdown and self-contained HTML from run folders; plots and tables for every stage."""

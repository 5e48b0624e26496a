"""Review workbench: a local web app to label and review recorded episodes."""

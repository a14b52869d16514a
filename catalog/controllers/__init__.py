"""HTTP controllers of the catalog: the JSON API and the web pages."""

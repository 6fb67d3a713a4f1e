"""Pictures of results: self-contained HTML files with plotly charts."""

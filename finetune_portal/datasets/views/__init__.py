"""The datasets pages, one module per page or concern; datasets/urls.py routes to them."""

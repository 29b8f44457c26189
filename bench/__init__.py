"""`supplychain bench`: the side-by-side benchmark of the secured server against bare ones (docs/performance.md)."""

"""`supplychain bench`: the side-by-side benchmark of issue 6 (see docs/performance.md)."""

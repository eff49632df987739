"""The township tier (DESIGN §1, §2, issue 5): a node with its own desk and log that is also
the upstream of its villages -- storing and forwarding their records verbatim, serving them the
county's and its own decisions, and deciding the items the county delegates to it."""

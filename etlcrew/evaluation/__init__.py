"""Score the records a model produced against hand-written labels, so models can be compared on the same cases."""

"""Virtual-time executor and the paper's experiments."""

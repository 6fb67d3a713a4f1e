"""Performance engines: model arithmetic, memory, collectives, training and inference time."""

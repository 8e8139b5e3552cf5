"""Infrastructure: errors, the package's paths, atomic writes, results folders, processes and memory."""

"""Pure polars transforms per layer: frames in, frames out."""

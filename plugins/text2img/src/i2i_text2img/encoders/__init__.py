"""Text encoders the text2img conditioner can hold in its own state (DAMSM); the shipped MiniLM graph
files live here too (package data)."""

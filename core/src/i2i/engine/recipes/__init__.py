"""Recipes the core ships: paired (one generator, one discriminator)."""

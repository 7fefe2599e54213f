"""MixingBuddy package."""

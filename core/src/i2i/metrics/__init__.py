"""Offline metrics: proxy judges (small networks trained on the real data) and their cache."""

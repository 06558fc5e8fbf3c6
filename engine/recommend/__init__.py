"""Recommendation: a clip and a prompt in, ranked tracks with their best start points out."""

from engine.recommend.recommender import QueryError, Recommendation, Recommender, Result

__all__ = ["QueryError", "Recommendation", "Recommender", "Result"]

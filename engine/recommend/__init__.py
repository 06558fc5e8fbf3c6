"""Recommendation: a clip and a prompt in, ranked tracks with their best start points out."""

from engine.recommend.encode import QueryError
from engine.recommend.recommender import Recommender
from engine.recommend.result import Recommendation, Result

__all__ = ["QueryError", "Recommendation", "Recommender", "Result"]

"""potstill.models"""

"""potstill.costs"""

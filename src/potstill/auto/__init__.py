"""potstill.auto"""

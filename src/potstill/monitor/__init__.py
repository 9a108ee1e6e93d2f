"""potstill.monitor"""

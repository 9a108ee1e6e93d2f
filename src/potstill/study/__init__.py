"""potstill.study"""

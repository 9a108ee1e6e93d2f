"""potstill.train"""

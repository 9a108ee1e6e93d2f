"""potstill.evaluate"""

"""The learned half of content safety: is a reply unsafe given the conversation so far?"""

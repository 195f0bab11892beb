"""Agent-assist knowledge base: the domain and the read side (articles, search, rules, suggest)."""

"""One router per resource; handlers are thin and named verb_noun (they become operation ids)."""

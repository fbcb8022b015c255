/* page_budget.h - the byte budget of a page of rendered events, in SQL
 * (private to src/store). A page query renders its LIMIT rows in a
 * subquery, adds these window columns over them, and keeps the rows that
 * PAGE_BUDGET_KEEP accepts: a prefix whose JSON fits the budget, and never
 * fewer than one row, so a reader always moves on. The cut happens in the
 * database, so a worker never receives (or holds) more than the budget
 * plus one event. */
#ifndef EVSTORE_PAGE_BUDGET_H
#define EVSTORE_PAGE_BUDGET_H

/* Columns over the rendered rows: page_bytes, the running size of JSON up
 * to this row; page_row, its rank; page_more, whether another row
 * follows it (so a cut page still says more may be waiting). ORDER is the
 * page's order. */
#define PAGE_BUDGET_COLUMNS(JSON, ORDER) \
	" sum(octet_length(" JSON ")) OVER (ORDER BY " ORDER " ROWS UNBOUNDED PRECEDING) AS page_bytes," \
	" row_number() OVER (ORDER BY " ORDER ") AS page_row," \
	" lead(true, 1, false) OVER (ORDER BY " ORDER ") AS page_more"

/* The rows kept for budget BUDGET (a bigint parameter; NULL: no budget). */
#define PAGE_BUDGET_KEEP(BUDGET) \
	" (page_row = 1 OR " BUDGET "::bigint IS NULL OR page_bytes <= " BUDGET "::bigint)"

#endif

/* page_budget.h - the byte budget of a page of rendered events, in SQL
 * (private to src/store). A page query renders its LIMIT rows in a
 * subquery, adds these window columns over them, and keeps the rows that
 * PAGE_BUDGET_KEEP accepts: a prefix whose JSON fits the budget, and never
 * fewer than one row, so a reader always moves on. The cut happens in the
 * database, so a worker never receives (or holds) much more than the
 * budget plus one event; a page the worker renders (event_render.h) is
 * measured by a lower bound here and cut exactly there. */
#ifndef EVSTORE_PAGE_BUDGET_H
#define EVSTORE_PAGE_BUDGET_H

/* Columns over the rows: page_bytes, the running sum of SIZE (an SQL
 * expression: the bytes a row's JSON takes, or no more than that) up to
 * this row; page_row, its rank; page_more, whether another row
 * follows it (so a cut page still says more may be waiting). ORDER is the
 * page's order. */
#define PAGE_BUDGET_COLUMNS(SIZE, ORDER) \
	" sum(" SIZE ") OVER " PAGE_BUDGET_WINDOW(ORDER) " AS page_bytes," \
	" row_number() OVER " PAGE_BUDGET_WINDOW(ORDER) " AS page_row," \
	" lead(true, 1, false) OVER " PAGE_BUDGET_WINDOW(ORDER) " AS page_more"

/* One window for the three (the frame matters to the sum only): written
 * alike, they are computed in one pass; with row_number and lead on the
 * default frame, PostgreSQL made a second pass, which cost a 100-event
 * stream read about a sixth of its database time. */
#define PAGE_BUDGET_WINDOW(ORDER) "(ORDER BY " ORDER " ROWS UNBOUNDED PRECEDING)"

/* The rows kept for budget BUDGET (a bigint parameter; NULL: no budget). */
#define PAGE_BUDGET_KEEP(BUDGET) \
	" (page_row = 1 OR " BUDGET "::bigint IS NULL OR page_bytes <= " BUDGET "::bigint)"

#endif

# This file is part of HiTech CRM. See LICENSE for details.
"""Small SQL helpers shared by the module's models."""
from sql.aggregate import Count

from trytond import backend
from trytond.tools import grouped_slice
from trytond.transaction import Transaction


def count_by(table, column, ids):
    "Return {id: number of rows of table whose column is id} for ids"
    cursor = Transaction().connection.cursor()
    counts = dict.fromkeys(ids, 0)
    for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
        cursor.execute(*table.select(
                column, Count(table.id),
                where=column.in_(list(sub_ids)),
                group_by=column))
        counts.update(cursor)
    return counts

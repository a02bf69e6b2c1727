# This file is part of HiTech CRM. See LICENSE for details.

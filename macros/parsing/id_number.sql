{#- PRC resident ID numbers (GB 11643). All take the raw column; the value is trimmed and
    upper-cased first. 18 chars: 6-digit area, birth date YYYYMMDD (chars 7-14), 3-digit
    sequence whose last digit (char 17) is odd for men and even for women, and an ISO 7064
    MOD 11-2 check character (char 18). 15 chars (legacy, before 1999): area, birth date
    YYMMDD in the 1900s (chars 7-12), sequence with the sex digit last (char 15), no check. -#}

{% macro id_number_clean(col) -%}
    upper({{ blank_to_null(col) }})
{%- endmacro %}

{#- The check character the first 17 digits call for: weights 2^(17-i) mod 11, sum mod 11
    indexes '10X98765432'. -#}
{% macro id_number_check_char(col) -%}
    {%- set weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] -%}
    {%- set v = kequn.id_number_clean(col) -%}
    substr('10X98765432', ((
        {%- for w in weights %}
        {{ dbt.safe_cast('substr(' ~ v ~ ', ' ~ loop.index ~ ', 1)', dbt.type_int()) }} * {{ w }}{{ ' +' if not loop.last }}
        {%- endfor %}
    ) % 11) + 1, 1)
{%- endmacro %}

{#- Birth date encoded in the ID: 18 chars -> chars 7-14; 15 chars -> 19 || chars 7-12.
    Null when the ID has neither shape or the date is impossible. Does not look at the
    checksum: combine with id_number_status. -#}
{% macro id_number_birth_date(col) -%}
    {%- set v = kequn.id_number_clean(col) -%}
    case
        when {{ kequn.matches_pattern(v, '[0-9]{17}[0-9X]') }} then {{ parse_date('substr(' ~ v ~ ', 7, 8)') }}
        when {{ kequn.matches_pattern(v, '[0-9]{15}') }} then {{ parse_date("'19' || substr(" ~ v ~ ", 7, 6)") }}
    end
{%- endmacro %}

{#- 'M' or 'F' from the sex digit (char 17 of 18, char 15 of 15); null for other shapes. -#}
{% macro id_number_gender(col) -%}
    {%- set v = kequn.id_number_clean(col) -%}
    {%- set digit -%}
        case
            when {{ kequn.matches_pattern(v, '[0-9]{17}[0-9X]') }} then {{ dbt.safe_cast('substr(' ~ v ~ ', 17, 1)', dbt.type_int()) }}
            when {{ kequn.matches_pattern(v, '[0-9]{15}') }} then {{ dbt.safe_cast('substr(' ~ v ~ ', 15, 1)', dbt.type_int()) }}
        end
    {%- endset -%}
    case when ({{ digit }}) % 2 = 1 then 'M' when ({{ digit }}) % 2 = 0 then 'F' end
{%- endmacro %}

{#- One of: missing (null/blank), legacy_15 (15 digits), malformed (not 17 digits + digit/X,
    or an impossible birth date), invalid_checksum, valid. -#}
{% macro id_number_status(col) -%}
    {%- set v = kequn.id_number_clean(col) -%}
    case
        when {{ v }} is null then 'missing'
        when {{ kequn.matches_pattern(v, '[0-9]{15}') }} then 'legacy_15'
        when not {{ kequn.matches_pattern(v, '[0-9]{17}[0-9X]') }} then 'malformed'
        when {{ kequn.id_number_birth_date(col) }} is null then 'malformed'
        when {{ kequn.id_number_check_char(col) }} = substr({{ v }}, 18, 1) then 'valid'
        else 'invalid_checksum'
    end
{%- endmacro %}

{#- True only for an 18-char ID whose check character is right (and birth date possible). -#}
{% macro id_number_is_valid(col) -%}
    ({{ kequn.id_number_status(col) }} = 'valid')
{%- endmacro %}

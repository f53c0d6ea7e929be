/* cflags: -march=x86-64-v2 */
/* Uses the x86-64-v2 level on purpose: SSE4.2 string compares, CRC32, POPCNT, SSSE3 shuffles
   and SSE4.1 blends and extensions. Prints one line of results that the host prints the same. */
#include <nmmintrin.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    const char text[] = "the quick brown fox jumps over the lazy dog, 0123456789";
    unsigned crc = 0xffffffffu;
    for (size_t i = 0; i < sizeof text - 1; i++)
        crc = _mm_crc32_u8(crc, (unsigned char)text[i]);

    unsigned long long bits = 0;
    for (size_t i = 0; i + 8 <= sizeof text - 1; i += 8) {
        unsigned long long q;
        memcpy(&q, text + i, 8);
        bits += (unsigned long long)_mm_popcnt_u64(q);
    }

    __m128i needle = _mm_setr_epi8('a', 'e', 'i', 'o', 'u', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    __m128i hay = _mm_loadu_si128((const __m128i *)text);
    int vowel = _mm_cmpistri(needle, hay, _SIDD_UBYTE_OPS | _SIDD_CMP_EQUAL_ANY | _SIDD_LEAST_SIGNIFICANT);
    __m128i range = _mm_setr_epi8('0', '9', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    int digit = _mm_cmpestri(range, 2, _mm_loadu_si128((const __m128i *)(text + 40)), 16, _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES);

    __m128i rev = _mm_shuffle_epi8(hay, _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    __m128i wide = _mm_cvtepu8_epi16(rev);
    __m128i mixed = _mm_blend_epi16(wide, _mm_set1_epi16(-1), 0x55);
    unsigned short out[8];
    _mm_storeu_si128((__m128i *)out, _mm_mullo_epi32(mixed, _mm_set1_epi32(3)));

    printf("crc=%08x popcnt=%llu vowel=%d digit=%d", crc ^ 0xffffffffu, bits, vowel, digit);
    for (int i = 0; i < 8; i++)
        printf(" %04x", out[i]);
    printf("\n");
    return 0;
}
